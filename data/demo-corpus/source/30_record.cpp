// @commit: minidb-record-size
// @repo: demo/minidb
// @path: src/storage/record.cpp
// @cwe: CWE-190
// @cve: CVE-2099-0604
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace minidb {

struct FieldSpec {
    std::uint32_t count;
    std::uint32_t width;
};

class RecordBuffer {
public:
    bool reserve(const FieldSpec& spec)
    {
        std::uint32_t total = spec.count * spec.width; //-
        std::uint64_t total = std::uint64_t(spec.count) * spec.width; //+
        if (total > kMaxRecord) //+
            return false; //+
        data_.resize(total);
        spec_ = spec;
        return true;
    }

    bool set(std::uint32_t field, const void* src)
    {
        if (field >= spec_.count)
            return false;
        std::memcpy(data_.data() + std::size_t(field) * spec_.width, src, spec_.width);
        return true;
    }

    std::size_t size() const { return data_.size(); }

private:
    static constexpr std::uint64_t kMaxRecord = 1u << 24; //+
    std::vector<std::uint8_t> data_;
    FieldSpec spec_{0, 0};
};

} // namespace minidb
