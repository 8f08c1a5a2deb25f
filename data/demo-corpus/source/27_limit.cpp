// @commit: minidb-limit-clause
// @repo: demo/minidb
// @path: src/query/limit.cpp
// @cwe: CWE-20
// @cve: CVE-2099-0601
#include <cstddef>
#include <string>
#include <vector>

namespace minidb {

struct Row {
    std::vector<std::string> cells;
};

class LimitClause {
public:
    bool parse(const std::string& text)
    {
        std::size_t used = 0;
        long long offset = 0, count = 0;
        try {
            count = std::stoll(text, &used);
            if (used < text.size() && text[used] == ',') {
                offset = count;
                count = std::stoll(text.substr(used + 1));
            }
        } catch (...) {
            return false;
        }
        if (offset < 0 || count < 0) //+
            return false; //+
        offset_ = static_cast<std::size_t>(offset);
        count_ = static_cast<std::size_t>(count);
        return true;
    }

    std::vector<Row> apply(const std::vector<Row>& rows) const
    {
        std::vector<Row> out;
        for (std::size_t i = offset_; i < rows.size() && out.size() < count_; ++i)
            out.push_back(rows[i]);
        return out;
    }

private:
    std::size_t offset_ = 0;
    std::size_t count_ = 0;
};

} // namespace minidb
