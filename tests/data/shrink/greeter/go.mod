module example.com/greeter

go 1.19

require example.com/words v1.0.0
