    if (player < 0 || static_cast<std::size_t>(player) >= scores.size()) {
        std::cerr << "no such player\n";
        return 1;
    }
    std::cout << "score: " << scores[static_cast<std::size_t>(player)] << '\n';
    return 0;
}
