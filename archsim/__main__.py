from archsim.cli import entry_point

entry_point()
