"""archsim.devices."""
