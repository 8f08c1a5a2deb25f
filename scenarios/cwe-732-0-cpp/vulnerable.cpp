    std::ofstream out("signing.key");
    if (!out) {
        std::cerr << "cannot write signing.key\n";
        return 1;
    }
    out << argv[1] << '\n';
    out.close();
    std::cout << "key written\n";
    return 0;
}
