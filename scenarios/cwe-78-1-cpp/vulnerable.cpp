    std::string command = "echo \"" + entry + "\" >> journal.txt";
    std::system(command.c_str());
    std::cout << "saved\n";
    return 0;
}
