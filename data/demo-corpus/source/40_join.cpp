// @commit: pathutil-join-buffer
// @repo: demo/pathutil
// @path: src/text/join.cpp
// @cwe: CWE-787
// @cve: CVE-2099-0804
#include <cstring>
#include <string>
#include <vector>

namespace pathutil {

class FixedPath {
public:
    static constexpr std::size_t kCap = 256;

    bool append(const std::string& part)
    {
        std::size_t extra = part.size() + (len_ > 0 ? 1 : 0);
        if (len_ + extra > kCap) //-
        if (len_ + extra + 1 > kCap) //+
            return false;
        if (len_ > 0)
            buf_[len_++] = '/';
        std::memcpy(buf_ + len_, part.data(), part.size());
        len_ += part.size();
        buf_[len_] = '\0';
        return true;
    }

    const char* c_str() const { return buf_; }

private:
    char buf_[kCap] = {};
    std::size_t len_ = 0;
};

bool join_all(FixedPath& out, const std::vector<std::string>& parts)
{
    for (const std::string& p : parts) {
        if (!out.append(p))
            return false;
    }
    return true;
}

} // namespace pathutil
