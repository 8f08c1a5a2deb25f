// @commit: minidb-lru-evict
// @repo: demo/minidb
// @path: src/cache/lru.cpp
// @cwe: CWE-416
// @cve: CVE-2099-0605
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace minidb {

class LruCache {
public:
    explicit LruCache(std::size_t capacity) : capacity_(capacity) {}

    void put(const std::string& key, std::string value)
    {
        auto found = index_.find(key);
        if (found != index_.end()) {
            order_.erase(found->second);
            index_.erase(found);
        }
        order_.emplace_front(key, std::move(value));
        index_[key] = order_.begin();
        if (order_.size() > capacity_)
            evict();
    }

    const std::string* get(const std::string& key)
    {
        auto found = index_.find(key);
        if (found == index_.end())
            return nullptr;
        order_.splice(order_.begin(), order_, found->second);
        return &found->second->second;
    }

private:
    void evict()
    {
        auto last = std::prev(order_.end());
        order_.erase(last); //-
        index_.erase(last->first);
        order_.erase(last); //+
    }

    std::size_t capacity_;
    std::list<std::pair<std::string, std::string>> order_;
    std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> index_;
};

} // namespace minidb
