// @commit: logview-html-escape
// @repo: demo/logview
// @path: src/render/table.cpp
// @cwe: CWE-79
// @cve: CVE-2099-0702
// @diff: yes
#include <string>
#include <vector>

namespace logview {

std::string html_escape(const std::string& text);

struct LogLine {
    std::string time;
    std::string source;
    std::string message;
};

class TableRenderer {
public:
    std::string render(const std::vector<LogLine>& lines) const
    {
        std::string html = "<table class=\"log\">\n";
        for (const LogLine& line : lines)
            html += row(line);
        html += "</table>\n";
        return html;
    }

private:
    static std::string cell(const std::string& text)
    {
        return "<td>" + text + "</td>"; //-
        return "<td>" + html_escape(text) + "</td>"; //+
    }

    std::string row(const LogLine& line) const
    {
        return "<tr>" + cell(line.time) + cell(line.source) + cell(line.message) + "</tr>\n";
    }
};

} // namespace logview
