    while (std::cin >> pages)
        jobs.push_back(Job{static_cast<int>(jobs.size()) + 1, pages});
    std::cout << "first: job " << first.id << " (" << first.pages << " pages), jobs: " << jobs.size() << '\n';
    return 0;
}
