    std::memcpy(header.label, label.c_str(), label.size() + 1);
    std::cout << "label: " << header.label << '\n';
    return 0;
}
