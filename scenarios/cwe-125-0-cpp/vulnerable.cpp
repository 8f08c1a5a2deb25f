    std::cout << "score: " << scores[player] << '\n';
    return 0;
}
