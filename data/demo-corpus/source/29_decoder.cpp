// @commit: minidb-wire-decoder
// @repo: demo/minidb
// @path: src/wire/decoder.cpp
// @cwe: CWE-125
// @cve: CVE-2099-0603
#include <cstdint>
#include <string>
#include <vector>

namespace minidb {

class Decoder {
public:
    explicit Decoder(const std::vector<std::uint8_t>& buf) : buf_(buf) {}

    bool u32(std::uint32_t& out)
    {
        if (buf_.size() - pos_ < 4) //+
            return false; //+
        out = 0;
        for (int i = 0; i < 4; ++i)
            out = (out << 8) | buf_[pos_ + i];
        pos_ += 4;
        return true;
    }

    bool text(std::string& out)
    {
        std::uint32_t len = 0;
        if (!u32(len))
            return false;
        if (len > buf_.size() - pos_) //+
            return false; //+
        out.assign(reinterpret_cast<const char*>(buf_.data() + pos_), len);
        pos_ += len;
        return true;
    }

    bool done() const { return pos_ == buf_.size(); }

private:
    const std::vector<std::uint8_t>& buf_;
    std::size_t pos_ = 0;
};

} // namespace minidb
