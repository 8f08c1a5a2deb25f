    std::copy(readings.begin(), readings.end(), batch);
    for (std::size_t i = 0; i < readings.size(); ++i)
        std::cout << batch[i] << ' ';
    std::cout << '\n';
    return 0;
}
