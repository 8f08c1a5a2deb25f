// @commit: minidb-wal-perms
// @repo: demo/minidb
// @path: src/storage/wal.cpp
// @cwe: CWE-732
// @cve: CVE-2099-0606
// @diff: yes
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace minidb {

class WriteAheadLog {
public:
    explicit WriteAheadLog(std::string dir) : dir_(std::move(dir)) {}
    ~WriteAheadLog()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }

    bool open_segment(unsigned index)
    {
        if (::mkdir(dir_.c_str(), 0777) != 0 && errno != EEXIST) //-
        if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) //+
            return false;
        char name[32];
        std::snprintf(name, sizeof(name), "/%08u.wal", index);
        std::string path = dir_ + name;
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0666); //-
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600); //+
        return fd_ >= 0;
    }

    bool append(const std::string& entry)
    {
        std::string line = entry + "\n";
        return ::write(fd_, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    }

    bool export_copy(const std::string& dest) const
    {
        std::FILE* out = std::fopen(dest.c_str(), "w");
        if (out == nullptr)
            return false;
        ::chmod(dest.c_str(), 0666); //-
        ::chmod(dest.c_str(), 0600); //+
        std::fprintf(out, "wal-dir %s\n", dir_.c_str());
        return std::fclose(out) == 0;
    }

private:
    std::string dir_;
    int fd_ = -1;
};

} // namespace minidb
