// @commit: pathutil-archive-entry
// @repo: demo/pathutil
// @path: src/archive/extract.cpp
// @cwe: CWE-22
// @cve: CVE-2099-0801
#include <cstdio>
#include <string>
#include <vector>

namespace pathutil {

struct Entry {
    std::string name;
    std::vector<char> bytes;
};

static bool entry_name_ok(const std::string& name) //+
{ //+
    if (name.empty() || name[0] == '/' || name.find('\\') != std::string::npos) //+
        return false; //+
    std::size_t start = 0; //+
    while (start <= name.size()) { //+
        std::size_t slash = name.find('/', start); //+
        if (slash == std::string::npos) //+
            slash = name.size(); //+
        if (name.compare(start, slash - start, "..") == 0) //+
            return false; //+
        start = slash + 1; //+
    } //+
    return true; //+
} //+
 //+
class Extractor {
public:
    explicit Extractor(std::string dest) : dest_(std::move(dest)) {}

    bool extract(const Entry& entry) const
    {
        if (!entry_name_ok(entry.name)) //+
            return false; //+
        std::string path = dest_ + "/" + entry.name;
        std::FILE* out = std::fopen(path.c_str(), "wb");
        if (out == nullptr)
            return false;
        bool ok = std::fwrite(entry.bytes.data(), 1, entry.bytes.size(), out) == entry.bytes.size();
        return std::fclose(out) == 0 && ok;
    }

    std::size_t extract_all(const std::vector<Entry>& entries) const
    {
        std::size_t done = 0;
        for (const Entry& e : entries)
            done += extract(e) ? 1 : 0;
        return done;
    }

private:
    std::string dest_;
};

} // namespace pathutil
