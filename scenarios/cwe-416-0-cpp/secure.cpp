    const Job head = first;
    while (std::cin >> pages)
        jobs.push_back(Job{static_cast<int>(jobs.size()) + 1, pages});
    std::cout << "first: job " << head.id << " (" << head.pages << " pages), jobs: " << jobs.size() << '\n';
    return 0;
}
