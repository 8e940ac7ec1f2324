/// "Did you mean ...?" for misspelt option names: an unknown option is only a warning (oslo.config
/// ignores it too), so a typo such as `reinit_drivr_count` would otherwise silently leave the
/// default in force. Naming the option the operator probably meant turns that into a one-line fix.
public enum OptionSuggestion {
    /// The known name closest to `name` by edit distance, when it is close enough to be a typo
    /// (at most 1 edit for short names, up to a third of the name's length for longer ones, at most 4).
    /// Ties go to the alphabetically first name, so the hint is stable.
    public static func closest(to name: String, in known: some Sequence<String>) -> String? {
        closest(to: name, in: Vocabulary(known))
    }

    /// The same against names prepared once (sorted, lower-cased), for callers that ask for many.
    public static func closest(to name: String, in vocabulary: Vocabulary) -> String? {
        let typed = Array(name.lowercased().unicodeScalars)
        guard !typed.isEmpty else { return nil }
        let limit = min(4, max(1, typed.count / 3))
        var best: (name: String, distance: Int)?
        for (candidate, scalars) in vocabulary.entries where candidate != name && abs(scalars.count - typed.count) <= limit {
            let distance = editDistance(typed, scalars, limit: limit)
            guard distance <= limit else { continue }
            if best == nil || distance < best!.distance { best = (candidate, distance) }
        }
        return best?.name
    }

    /// ` (did you mean X?)` when a known name is close to `name`, otherwise empty: appended to warnings.
    public static func hint(for name: String, in known: some Sequence<String>) -> String {
        hint(for: name, in: Vocabulary(known))
    }

    public static func hint(for name: String, in vocabulary: Vocabulary) -> String {
        closest(to: name, in: vocabulary).map { " (did you mean \($0)?)" } ?? ""
    }

    /// Known names sorted (so ties go to the alphabetically first) with their lower-cased scalars.
    public struct Vocabulary: Sendable {
        let entries: [(name: String, scalars: [Unicode.Scalar])]

        public init(_ known: some Sequence<String>) {
            entries = known.sorted().map { ($0, Array($0.lowercased().unicodeScalars)) }
        }
    }

    /// Damerau-Levenshtein distance (adjacent transpositions count as one edit), giving up with
    /// `limit + 1` once every path is longer than `limit`.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowMinimum = current[0]
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, previousPrevious[j - 2] + 1)
                }
                current[j] = value
                rowMinimum = min(rowMinimum, value)
            }
            if rowMinimum > limit { return limit + 1 }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}
