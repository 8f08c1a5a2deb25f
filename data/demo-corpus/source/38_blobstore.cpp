// @commit: pathutil-blob-key
// @repo: demo/pathutil
// @path: src/store/blobstore.cpp
// @cwe: CWE-22
// @cve: CVE-2099-0802
#include <cstdio>
#include <string>

namespace pathutil {

class BlobStore {
public:
    explicit BlobStore(std::string root) : root_(std::move(root)) {}

    static bool key_ok(const std::string& key)
    {
        if (key.empty() || key.size() > 128)
            return false;
        for (char c : key) {
            bool word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            if (!word && c != '.') //-
            if (!word) //+
                return false;
        }
        return true;
    }

    std::string path_for(const std::string& key) const
    {
        return root_ + "/" + key.substr(0, 2) + "/" + key;
    }

    bool read(const std::string& key, std::string& out) const
    {
        if (!key_ok(key))
            return false;
        std::FILE* f = std::fopen(path_for(key).c_str(), "rb");
        if (f == nullptr)
            return false;
        char buf[512];
        std::size_t n;
        out.clear();
        while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
            out.append(buf, n);
        std::fclose(f);
        return true;
    }

private:
    std::string root_;
};

} // namespace pathutil
