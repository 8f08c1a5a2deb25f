// @commit: shellrun-mail-address
// @repo: demo/shellrun
// @path: src/notify/mailer.cpp
// @cwe: CWE-78
// @cve: CVE-2099-0502
#include <cstdio>
#include <string>
#include <vector>

namespace shellrun {

class Mailer {
public:
    explicit Mailer(std::string program) : program_(std::move(program)) {}

    bool send(const std::string& to, const std::string& subject, const std::string& body) const
    {
        if (!address_ok(to)) //+
            return false; //+
        std::string cmd = program_ + " -s 'job report' " + to;
        std::FILE* pipe = popen(cmd.c_str(), "w");
        if (pipe == nullptr)
            return false;
        std::fprintf(pipe, "Subject: %s\n\n%s\n", subject.c_str(), body.c_str());
        return pclose(pipe) == 0;
    }

    static bool address_ok(const std::string& addr)
    {
        if (addr.empty() || addr.front() == '-')
            return false;
        for (char c : addr) {
            bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!plain && std::string("@._+-").find(c) == std::string::npos)
                return false;
        }
        return addr.find('@') != std::string::npos;
    }

private:
    std::string program_;
};

std::vector<std::string> split_recipients(const std::string& list)
{
    std::vector<std::string> out;
    std::string cur;
    for (char c : list) {
        if (c == ',') {
            if (!cur.empty())
                out.push_back(cur);
            cur.clear();
        } else if (c != ' ') {
            cur += c;
        }
    }
    if (!cur.empty())
        out.push_back(cur);
    return out;
}

} // namespace shellrun
