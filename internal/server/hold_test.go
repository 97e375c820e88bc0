package server

func holdSessionsChild() bool { return false }
