module example.com/https

go 1.19
