package dev.brook.apps;

import java.time.Duration;
import java.util.function.Supplier;

/** Bounded polling: every wait in these tests has a deadline and says what it waited for. */
final class Wait {
    private Wait() {}

    /** Polls `condition` every 100 ms until it is true; fails after `timeout`
     *  with `what` and the last exception the condition threw. */
    static void until(Duration timeout, String what, CheckedCondition condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (true) {
            try {
                if (condition.test()) {
                    return;
                }
            } catch (Exception e) { // a node may be down or failing over: retry until the deadline
                last = e;
            }
            if (System.nanoTime() >= deadline) {
                AssertionError error = new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what);
                if (last != null) {
                    error.initCause(last);
                }
                throw error;
            }
            Thread.sleep(100);
        }
    }

    /** Like `until`, with a description computed at failure time (e.g. the progress so far). */
    static void until(Duration timeout, Supplier<String> what, CheckedCondition condition) throws InterruptedException {
        try {
            until(timeout, "", condition);
        } catch (AssertionError e) {
            AssertionError detailed = new AssertionError(e.getMessage() + what.get());
            detailed.initCause(e.getCause());
            throw detailed;
        }
    }

    @FunctionalInterface
    interface CheckedCondition {
        boolean test() throws Exception;
    }
}
