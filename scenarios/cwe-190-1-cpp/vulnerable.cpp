    int total = 0;
    for (int s : sizes)
        total += s;
    std::cout << "total: " << total << " average: " << total / static_cast<int>(sizes.size()) << '\n';
    return 0;
}
