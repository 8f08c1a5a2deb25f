// @commit: logview-level-index
// @repo: demo/logview
// @path: src/filter/level.cpp
// @cwe: CWE-20
// @cve: CVE-2099-0701
#include <array>
#include <string>
#include <vector>

namespace logview {

enum class Level { Trace, Debug, Info, Warn, Error };

static const std::array<const char*, 5> kLevelNames = {"trace", "debug", "info", "warn", "error"};

class LevelFilter {
public:
    // The query string carries the minimum level as a number, e.g. ?min=2.
    bool set_from_query(const std::string& value)
    {
        int index = 0;
        for (char c : value) {
            if (c < '0' || c > '9')
                return false;
            index = index * 10 + (c - '0');
            if (index >= static_cast<int>(kLevelNames.size())) //+
                return false; //+
        }
        if (value.empty()) //+
            return false; //+
        min_ = static_cast<Level>(index);
        return true;
    }

    const char* min_name() const { return kLevelNames[static_cast<int>(min_)]; }

    bool keep(Level level) const { return static_cast<int>(level) >= static_cast<int>(min_); }

private:
    Level min_ = Level::Info;
};

std::vector<std::string> level_names()
{
    return std::vector<std::string>(kLevelNames.begin(), kLevelNames.end());
}

} // namespace logview
