// Several packages: its own (internal/shout) and a vendored module (example.com/words).
package main

import (
	"fmt"

	"example.com/greeter/internal/shout"
	"example.com/words"
)

func main() {
	fmt.Println(shout.Loud(words.Greeting() + ", workshop"))
}
