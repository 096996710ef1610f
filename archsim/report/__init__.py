"""archsim.report."""
