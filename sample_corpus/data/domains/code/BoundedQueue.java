package sample.collections;

import java.util.ArrayDeque;
import java.util.Deque;

/** A first-in first-out queue that refuses new elements beyond its capacity. */
public final class BoundedQueue<T> {
    private final Deque<T> items = new ArrayDeque<>();
    private final int capacity;

    public BoundedQueue(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive");
        }
        this.capacity = capacity;
    }

    /** Adds an element; returns false when the queue is full. */
    public boolean offer(T item) {
        if (items.size() >= capacity) {
            return false;
        }
        items.addLast(item);
        return true;
    }

    public T poll() {
        return items.pollFirst();
    }

    public int size() {
        return items.size();
    }

    public static void main(String[] args) {
        BoundedQueue<String> queue = new BoundedQueue<>(2);
        System.out.println(queue.offer("a") + " " + queue.offer("b") + " " + queue.offer("c"));
        System.out.println(queue.poll() + " " + queue.size());
    }
}
