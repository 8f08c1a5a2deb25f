// @commit: logview-follow-ref
// @repo: demo/logview
// @path: src/tail/follower.cpp
// @cwe: CWE-416
// @cve: CVE-2099-0703
#include <cstddef>
#include <string>
#include <vector>

namespace logview {

class Follower {
public:
    void feed(const std::string& chunk)
    {
        for (char c : chunk) {
            if (c == '\n') {
                lines_.push_back(partial_);
                partial_.clear();
            } else {
                partial_ += c;
            }
        }
    }

    // Appends a marker line and reports the line that preceded it.
    std::string mark(const std::string& label)
    {
        if (lines_.empty())
            return std::string();
        const std::string& previous = lines_.back(); //-
        std::string previous = lines_.back(); //+
        lines_.push_back("-- " + label + " --");
        return previous;
    }

    std::size_t size() const { return lines_.size(); }

    std::vector<std::string> last(std::size_t n) const
    {
        std::size_t from = lines_.size() > n ? lines_.size() - n : 0;
        return std::vector<std::string>(lines_.begin() + static_cast<long>(from), lines_.end());
    }

private:
    std::vector<std::string> lines_;
    std::string partial_;
};

} // namespace logview
