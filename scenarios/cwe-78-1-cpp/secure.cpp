    std::ofstream journal("journal.txt", std::ios::app);
    if (!journal) {
        std::cerr << "cannot open journal.txt\n";
        return 1;
    }
    journal << entry << '\n';
    std::cout << "saved\n";
    return 0;
}
