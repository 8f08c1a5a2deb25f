    long long total = 0;
    for (int s : sizes)
        total += s;
    std::cout << "total: " << total << " average: " << total / static_cast<long long>(sizes.size()) << '\n';
    return 0;
}
