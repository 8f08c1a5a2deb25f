// @commit: minidb-page-slot
// @repo: demo/minidb
// @path: src/storage/page.cpp
// @cwe: CWE-119
// @cve: CVE-2099-0602
#include <cstdint>
#include <cstring>
#include <string>

namespace minidb {

constexpr std::size_t kPageSize = 4096;
constexpr std::size_t kSlotSize = 128;

class Page {
public:
    std::size_t slots() const { return kPageSize / kSlotSize; }

    bool put(std::size_t slot, const std::string& value)
    {
        if (slot >= slots()) //-
        if (slot >= slots() || value.size() > kSlotSize - 1) //+
            return false;
        char* dst = bytes_ + slot * kSlotSize;
        std::memcpy(dst, value.data(), value.size());
        dst[value.size()] = '\0';
        return true;
    }

    std::string get(std::size_t slot) const
    {
        if (slot >= slots())
            return std::string();
        const char* src = bytes_ + slot * kSlotSize;
        return std::string(src, strnlen(src, kSlotSize));
    }

    void clear() { std::memset(bytes_, 0, sizeof(bytes_)); }

private:
    char bytes_[kPageSize] = {};
};

} // namespace minidb
