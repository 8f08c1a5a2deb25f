// @commit: pathutil-watch-lookup
// @repo: demo/pathutil
// @path: src/watch/registry.cpp
// @cwe: CWE-476
// @cve: CVE-2099-0803
#include <map>
#include <memory>
#include <string>

namespace pathutil {

struct Watch {
    std::string path;
    int events = 0;
};

class WatchRegistry {
public:
    void add(const std::string& path, int events)
    {
        auto w = std::make_unique<Watch>();
        w->path = path;
        w->events = events;
        watches_[path] = std::move(w);
    }

    Watch* find(const std::string& path) const
    {
        auto it = watches_.find(path);
        return it == watches_.end() ? nullptr : it->second.get();
    }

    bool update(const std::string& path, int events)
    {
        Watch* w = find(path);
        if (w == nullptr) //+
            return false; //+
        w->events |= events;
        return true;
    }

    std::size_t count() const { return watches_.size(); }

private:
    std::map<std::string, std::unique_ptr<Watch>> watches_;
};

} // namespace pathutil
