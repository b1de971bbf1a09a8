import NIOCore

/// A deadline that moves on every request but rarely fires.
///
/// Scheduling a task per request costs an allocation, a heap insertion and a cancellation in the event
/// loop's timer queue. Instead the deadline is a plain field; a pending firing that comes no later
/// than the new deadline is kept, and when it fires early it re-arms itself for the rest. Keep-alive
/// traffic then costs about one firing per timeout interval, whatever the request rate (HAProxy's
/// task timers work alike: `task_schedule` only moves a timer earlier).
///
/// Time is the event loop's (`EventLoop.now`), so on an `EmbeddedEventLoop` a test advances it
/// instead of sleeping. The firing is a scheduled callback on the owner itself
/// (`NIOScheduledCallbackHandler`), not a scheduled task: no promise, future or closure is allocated
/// per timer — on an idle keep-alive connection, whose timer is always armed, those were a tenth of
/// its memory.
struct LazyTimer {
    private var scheduled: NIOScheduledCallback?
    private var firesAt: NIODeadline?
    /// When the caller's limit expires; `nil` when nothing is timed.
    private(set) var deadline: NIODeadline?

    /// Sets the deadline. `handler` is called on `loop` when the pending firing comes; it should call
    /// ``fired(on:_:)`` to learn whether the deadline has really passed.
    mutating func set(_ deadline: NIODeadline, on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler) {
        self.deadline = deadline
        if scheduled != nil, let firesAt, firesAt <= deadline { return }
        schedule(at: deadline, on: loop, handler)
    }

    /// Nothing is timed any more; a pending firing finds no deadline and stops.
    mutating func clear() {
        deadline = nil
    }

    /// Cancels the pending firing too (the channel is going away).
    mutating func cancel() {
        scheduled?.cancel()
        scheduled = nil
        firesAt = nil
        deadline = nil
    }

    /// Called by the firing: true when the deadline has passed (the caller acts, and sets a new one if
    /// it wants); false when there is none or it is still ahead (then the timer re-armed itself).
    mutating func fired(on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler) -> Bool {
        scheduled = nil
        firesAt = nil
        guard let deadline else { return false }
        if loop.now < deadline {
            schedule(at: deadline, on: loop, handler)
            return false
        }
        self.deadline = nil
        return true
    }

    private mutating func schedule(at when: NIODeadline, on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler) {
        scheduled?.cancel()
        firesAt = when
        // Fails only when the loop is shutting down, and then nothing is left to time.
        scheduled = try? loop.assumeIsolated().scheduleCallback(at: when, handler: handler)
    }
}
