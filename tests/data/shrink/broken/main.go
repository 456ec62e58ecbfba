package main

func main() {
	this is not Go
}
