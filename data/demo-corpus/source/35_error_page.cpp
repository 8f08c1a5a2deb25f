// @commit: logview-html-escape
// @repo: demo/logview
// @path: src/render/error_page.cpp
// @cwe: CWE-79
// @cve: CVE-2099-0702
#include <string>

namespace logview {

std::string html_escape(const std::string& text)
{
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break; //+
        default: out += c;
        }
    }
    return out;
}

class ErrorPage {
public:
    ErrorPage(int status, std::string reason) : status_(status), reason_(std::move(reason)) {}

    std::string render(const std::string& requested_file) const
    {
        std::string body = "<h1>" + std::to_string(status_) + " " + reason_ + "</h1>\n";
        body += "<p>No log named " + requested_file + " was found.</p>\n"; //-
        body += "<p>No log named " + html_escape(requested_file) + " was found.</p>\n"; //+
        return "<html><body>" + body + "</body></html>\n";
    }

private:
    int status_;
    std::string reason_;
};

} // namespace logview
