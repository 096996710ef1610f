"""archsim.mapping."""
