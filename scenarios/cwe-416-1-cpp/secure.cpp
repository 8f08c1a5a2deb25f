            delete connection;
            connection = nullptr;
        } else if (command == "stats") {
            if (connection != nullptr)
                std::cout << connection->peer << ' ' << connection->bytes_sent << '\n';
            else
                std::cout << "closed\n";
        }
    }
    delete connection;
    return 0;
}
