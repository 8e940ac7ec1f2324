// Scaffold so the target builds before its tests land; the module's owner deletes this file.
