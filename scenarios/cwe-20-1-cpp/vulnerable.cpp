    if (next.find("accounts.example.org") != std::string::npos)
        std::cout << "Redirect: " << next << "\n";
    else
        std::cout << "Redirect: " << site << "dashboard\n";
    return 0;
}
