"""archsim.sweep."""
