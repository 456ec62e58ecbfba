package words

// Greeting is what a greeter says first.
func Greeting() string { return "hello" }
