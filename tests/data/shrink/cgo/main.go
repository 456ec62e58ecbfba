// A program with C in it: it needs a C compiler to build, and the C library where it runs
// unless it is linked statically.
package main

/*
static int answer(void) { return 42; }
*/
import "C"

import "fmt"

func main() {
	fmt.Println("C says", int(C.answer()))
}
