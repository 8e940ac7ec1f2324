// Scaffold so the target builds before its module lands; the module's owner deletes this file.
