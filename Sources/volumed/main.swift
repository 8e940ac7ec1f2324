// Scaffold: the command line lands with issue 6.
print("volumed")
