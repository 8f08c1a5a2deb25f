    std::size_t count = std::min<std::size_t>(readings.size(), 8);
    std::copy(readings.end() - static_cast<std::ptrdiff_t>(count), readings.end(), batch);
    for (std::size_t i = 0; i < count; ++i)
        std::cout << batch[i] << ' ';
    std::cout << '\n';
    return 0;
}
