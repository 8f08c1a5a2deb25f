    const char *raw = std::getenv("APP_CACHE");
    if (raw == nullptr || *raw == '\0') {
        std::cerr << "APP_CACHE is not set\n";
        return 1;
    }
    std::string cache = raw;
    if (cache.back() != '/')
        cache += '/';
    std::cout << cache << '\n';
    return 0;
}
