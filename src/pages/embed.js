/* Clientela embed widget: being written (tests/browser/signup.mjs drives it). */
