// The tutorial's chat server ("Make Chat": Node.js + Socket.IO), as a
// benchmark peer for natter: the same events, handled as the tutorial
// handles them (state in memory, rooms via socket.join and io.to(room).emit),
// without Express and the page, which no benchmark touches.
//
// Performance options from socket.io's "Performance tuning" guide:
// - bufferutil and utf-8-validate are installed (package.json), so the ws
//   server masks and validates frames natively;
// - the initial HTTP request of each connection is discarded to save memory;
// - per-message deflate stays off (explicitly).
// The guide's other suggestion, uWebSockets.js, is not on the npm registry.
//
// Usage: node server.js [port] [host]    (default 3200, 127.0.0.1)
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || process.env.PORT || 3200);
const host = process.argv[3] || "127.0.0.1";

const server = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(server, { perMessageDeflate: false, serveClient: false });

io.engine.on("connection", (rawSocket) => {
  rawSocket.request = null;
});

// The tutorial's state: who is online, and every channel's messages.
const onlineUsers = {};
const channels = { General: [] };

io.on("connection", (socket) => {
  socket.on("new user", (username) => {
    onlineUsers[username] = socket.id;
    socket["username"] = username;
    io.emit("new user", username);
  });

  socket.on("new message", (data) => {
    // Save the new message to the channel, then emit it to the channel's room.
    channels[data.channel].push({ sender: data.sender, message: data.message });
    io.to(data.channel).emit("new message", data);
  });

  socket.on("get online users", () => {
    socket.emit("get online users", onlineUsers);
  });

  socket.on("new channel", (newChannel) => {
    channels[newChannel] = [];
    socket.join(newChannel);
    io.emit("new channel", newChannel);
    socket.emit("user changed channel", {
      channel: newChannel,
      messages: channels[newChannel],
    });
  });

  socket.on("user changed channel", (newChannel) => {
    socket.join(newChannel);
    socket.emit("user changed channel", {
      channel: newChannel,
      messages: channels[newChannel],
    });
  });

  socket.on("disconnect", () => {
    delete onlineUsers[socket.username];
    io.emit("user has left", onlineUsers);
  });
});

server.listen(port, host, () => {
  const address = server.address();
  // Scripts read this line to learn the port.
  console.log(`node-socketio listening on http://${address.address}:${address.port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(0));
}
