    std::string cache = std::getenv("APP_CACHE");
    if (cache.back() != '/')
        cache += '/';
    std::cout << cache << '\n';
    return 0;
}
