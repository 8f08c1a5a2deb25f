    if (next.compare(0, site.size(), site) == 0)
        std::cout << "Redirect: " << next << "\n";
    else
        std::cout << "Redirect: " << site << "dashboard\n";
    return 0;
}
